"""The desktop window. Only this package imports Qt; ``overlay`` stays Qt-free so it tests headless."""
