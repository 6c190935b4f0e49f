/* placeholder */ typedef int placeholder_helpers;
