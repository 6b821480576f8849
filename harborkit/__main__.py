from harborkit.cli import main

main()
