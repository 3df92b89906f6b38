"""Executors launch placed jobs on real resources: local processes, Ray, Slurm."""
