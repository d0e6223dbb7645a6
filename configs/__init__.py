"""The default configuration files (default.yaml, gpu.yaml, categories.yaml), installed with the
product so that `callscope` finds them without a checkout."""
