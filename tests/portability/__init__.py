"""The portability run (`make test-portable`): the notebooks and the figure tests under other float kernels."""
