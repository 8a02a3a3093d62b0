"""sha256 of the packaged tables, compiled into the code that checks them: a data folder cannot vouch
for itself (written by scripts/build_data.py)."""

SHA256 = {
    "fbnet_luts.json.gz": "cfbf072f19400d832b13d20bf4fcff154a80c8e26fb07902e54998e15626300e",
    "help_fbnet_latency.npz": "c0a6d4f6dce5d5aa5beea3b19d8dad23294adf9bde62f664b2491b836b3cbe77",
    "help_nb201_latency.npz": "e1aa3e87abd9da7bcf45a8525fabbb8b7ce5a202a51e36fd125f6f56517f98f0",
    "nb201_accuracy.npz": "40aa849b15e15e1239e53c34581b72b1593caa5d56fa3f4354529ae3e7679571",
    "nb201_hwnasbench.npz": "5c836a56461ff50c0d90766acc2153f0d2f36b4f0d1774d841c960bb2c51b6e8",
}
