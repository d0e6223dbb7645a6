"""Running callscope on a machine: the checks before a first night (doctor)."""
