"""The label font (an OFL subset, see OFL.txt) and the script that rebuilds it."""
