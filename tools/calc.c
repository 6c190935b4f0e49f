/* placeholder */ typedef int placeholder_calc;
