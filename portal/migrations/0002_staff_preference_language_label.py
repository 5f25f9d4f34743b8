# The label only: the language now covers the admin pages too (no change to the column).

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('portal', '0001_staff_preference'),
    ]

    operations = [
        migrations.AlterField(
            model_name='staffpreference',
            name='language',
            field=models.CharField(choices=[('en', 'English'), ('fr', 'Français'), ('zh-hans', '简体中文'), ('zh-hant', '繁體中文'), ('ja', '日本語')], default='en', max_length=16, verbose_name='language of your admin pages and emails'),
        ),
    ]
