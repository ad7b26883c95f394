"""What the app knows, in plain Python (no Textual): the session (image, cursor, threshold,
explanation) and what each of its transitions asks the app to do (effects)."""
