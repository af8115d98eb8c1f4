"""The app's screens: home, one per task, and the dialogs."""
