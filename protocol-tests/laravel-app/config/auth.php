<?php
return ['defaults' => ['guard' => 'web'], 'guards' => ['web' => ['driver' => 'test-header']], 'providers' => []];
