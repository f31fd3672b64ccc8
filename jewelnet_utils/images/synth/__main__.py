"""``python -m jewelnet_utils.images.synth --ensure ...`` (``make data``): ``jewelnet synth``."""

if __name__ == "__main__":  # a launcher, never imported by the package
    import sys

    from ...cli import main

    sys.exit(main(["synth", *sys.argv[1:]]))
