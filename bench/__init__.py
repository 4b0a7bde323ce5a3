"""The benchmark (``make bench``): data at town, city and province scale, and the
scenarios that measure Jifen against baselines taken in the same run. See README.md."""
