"""wirelens network lab: real Linux stacks in network namespaces, impaired in user space.

`python3 -m tools.netlab.make_samples` (run as root, `sudo make samples`) rebuilds every
capture in sample_pcaps/. See sample_pcaps/README.md for the topology and each scenario.
"""
