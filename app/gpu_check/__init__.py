"""``make gpu-check``'s and ``bench cpu``'s results as people and files read them.

``report`` turns a run into its goals, its markdown and its result file's name; ``cpu_report`` turns a
``jarvis-play bench cpu`` result file into the README's CPU table; ``tables`` regenerates both README
sections and ``model/fit.py``'s built-in table from the result files committed under
``assets/benchmarks/``. The measuring itself is ``app.commands.bench_gpu`` (the orchestrator) and
``app.commands.bench_gpu_sections`` (one child process per section).
"""
