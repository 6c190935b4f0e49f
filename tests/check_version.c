/* placeholder */ typedef int placeholder_check_version;
