"""The emulated Tyk portal and Dashboard: the test oracle, served in-process or over HTTP."""
