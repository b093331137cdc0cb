"""The staff workbench (工作台): the persons in a worker's jurisdiction."""
