"""Host adapters: servers and protocol bridges registered through the plugin hooks."""
