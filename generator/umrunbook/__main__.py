from umrunbook.cli import main

main()
