"""Generated shots with exact ground truth, made in memory: the demo subject
(:mod:`.demo_shot`), hand-held shots with a known camera shake and parallax (:mod:`.shake`),
and moving-subject shots (:mod:`.moving`). The demo, the benchmarks and the tests use them;
the node never does."""
