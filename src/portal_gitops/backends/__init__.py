"""Where live state lives: the embedded SQLite store, a real Tyk, and the emulator between them."""
