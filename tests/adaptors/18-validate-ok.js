validate();
