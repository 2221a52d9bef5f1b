"""GPU sources behind one small interface (``base``), discovered through the
``aima.providers`` entry-point group (``registry``). Nothing here imports Django."""
