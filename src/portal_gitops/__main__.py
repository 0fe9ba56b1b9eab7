from portal_gitops.cli import main

main()
