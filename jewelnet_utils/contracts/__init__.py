"""What every stage agrees on: the profiles, the thesis's numbers (transcribed once), the
formats of the files one stage hands to the next, and the one image decoder. Imports nothing
above itself."""
