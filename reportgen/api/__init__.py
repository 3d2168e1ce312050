"""The public API for a user's own code: `Recorder` (api/recorder.py), the Lightning callback (api/lightning.py);
`reportgen.load_run` reads a run back (store/load.py)."""
