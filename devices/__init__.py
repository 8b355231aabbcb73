"""Built-in device profiles (TOML), installed as the package ``edgebench.profiles``."""
