"""The product around the model: game connectors, the real-time loop, the window and the command line."""
