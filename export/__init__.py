"""cnninterp-export's front end: what runs around one image's export (resume, the dataset
summary, a Ray cluster)."""
