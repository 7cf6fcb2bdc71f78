# Copyright (c) ltcls contributors. All rights reserved.
