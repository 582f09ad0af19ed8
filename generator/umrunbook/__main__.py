from umrunbook.cli import main

# Guarded: worker processes (render --jobs) import the main module without running it.
if __name__ == "__main__":
    main()
