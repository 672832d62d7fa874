"""The graph layer: the roots of a core's heap (roots) and the objects reachable from them
(marking). Builds on the scan layer's walk; names nothing."""
