from promptvc.cli.main import main

main()
