"""Static files of the browser page; a package so that they ship in the wheel."""
