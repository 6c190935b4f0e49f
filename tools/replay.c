/* placeholder */ typedef int placeholder_replay;
