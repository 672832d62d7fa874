"""The scan layer: where the live objects are (pages: heap pages, allocation areas, the
areas to walk), the hot loop (_scan, Cython, with its constants in scanrules and a plain
Python twin in _scan_py), the threads that run it (sweep), and the scan itself (heapscan:
maps, counts, holders). Knows V8's layout, names nothing."""
