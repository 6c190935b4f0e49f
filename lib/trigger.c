/* placeholder */ typedef int margin__placeholder_trigger;
