"""The picture panels: what each shows (panel_pictures), the protocol they share
(picture_panel), the half-block PixelView and the Kitty/Sixel GraphicsView with their
terminal pictures, the shared viewport (zoom and pan), colours and the colour bar."""
