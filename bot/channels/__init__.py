"""Front ends: each turns its medium into text for the dialogue core and renders replies."""
