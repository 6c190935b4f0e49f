/* placeholder */ typedef int placeholder_check_position;
