"""Tests of the local Mix server (a package, so its module names cannot clash with other test folders)."""
