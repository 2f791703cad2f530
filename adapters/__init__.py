"""Sources of rows. The registry maps source.type to an adapter."""
