from goalloc.cli import main

main()
