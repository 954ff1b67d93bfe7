"""CoDeF content deformation fields in plain torch: a canonical image (a 2D hash-grid field) and a temporal
deformation field (a 3D hash-grid field over x, y, t) fitted per video, so that one edit of the canonical
image reaches every frame without per-frame flicker (`vidcli canonical`, `vidcli propagate`)."""

EDIT_NAMES = ("stylize", "pencil", "posterize")  # the built-in edits (`propagate.EDITS`)
