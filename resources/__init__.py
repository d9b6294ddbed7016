"""Icons, style sheet, sounds and test media shipped with the app."""
