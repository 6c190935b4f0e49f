/* placeholder */ typedef int placeholder_cli;
