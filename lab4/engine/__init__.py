"""Running tasks: a task's generator driven to a result (the runner), one run or a sweep."""
