"""The Tyk client wing: talks to a real portal and Dashboard (or anything serving their API)."""
