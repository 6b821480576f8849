from harborkit.commands import main

main()
