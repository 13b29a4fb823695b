"""One module per `face3d` command (demo and redrive share one): each adds its parser."""
